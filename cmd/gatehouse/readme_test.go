package main

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/config"
)

// TestREADMEConfigurationReference keeps the README's settings table true.
func TestREADMEConfigurationReference(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), strings.TrimSpace(config.Reference())) {
		t.Fatalf("README.md's configuration table differs from config.Reference():\n%s", config.Reference())
	}
}
