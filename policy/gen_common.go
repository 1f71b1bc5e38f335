//go:build ignore

// gen_common builds common-passwords.txt.gz from public password lists; see
// COMMON-PASSWORDS.md for the sources and the exact command.
//
// Usage: go run gen_common.go -o common-passwords.txt.gz FILE[:MAXLINES]...
//
// Each FILE (gzip-compressed when its name ends in .gz) has one password a
// line; MAXLINES keeps only its first lines. Every entry is normalised the way
// IsCommon normalises its argument (strings.ToLower), and entries that are
// empty, not UTF-8, longer than 64 characters or that hold control characters
// are dropped. The output is sorted, deduplicated and gzip-compressed without a
// timestamp, so the same inputs always give the same bytes.
package main

import (
	"bufio"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

func main() {
	out := flag.String("o", "common-passwords.txt.gz", "output file")
	flag.Parse()
	seen := map[string]bool{}
	for _, arg := range flag.Args() {
		name, limit := arg, -1
		if i := strings.LastIndexByte(arg, ':'); i > 0 {
			n, err := strconv.Atoi(arg[i+1:])
			if err != nil {
				log.Fatalf("%s: bad line limit", arg)
			}
			name, limit = arg[:i], n
		}
		read, kept, err := readList(name, limit, seen)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "%s: %d lines read, %d new entries\n", name, read, kept)
	}
	entries := make([]string, 0, len(seen))
	for e := range seen {
		entries = append(entries, e)
	}
	slices.Sort(entries)
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(zw)
	for _, e := range entries {
		w.WriteString(e)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "%s: %d entries\n", *out, len(entries))
}

func readList(name string, limit int, seen map[string]bool) (read, kept int, err error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", name, err)
		}
		r = zr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() && read != limit {
		read++
		e := strings.ToLower(strings.TrimSuffix(sc.Text(), "\r"))
		if !acceptable(e) || seen[e] {
			continue
		}
		seen[e] = true
		kept++
	}
	if err := sc.Err(); err != nil {
		return read, kept, fmt.Errorf("%s: %w", name, err)
	}
	return read, kept, nil
}

func acceptable(e string) bool {
	if e == "" || !utf8.ValidString(e) || utf8.RuneCountInString(e) > 64 {
		return false
	}
	return !strings.ContainsFunc(e, unicode.IsControl)
}
