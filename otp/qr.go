package otp

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/boombuler/barcode/qr"
)

const (
	// The QR image is about 200 to 264 pixels a side: big enough for a
	// phone camera at arm's length, small enough for a phone's page. Only
	// very long URIs (version 17 and up, 300 characters or more) come out
	// smaller, since every module must be a whole number of pixels.
	qrMinSize = 200
	qrMaxSize = 264
	// qrQuietZone is the white margin, in modules, that ISO/IEC 18004
	// asks for around the symbol; scanners find the code by it.
	qrQuietZone = 4
)

// qrDataURL renders text as a QR code PNG and returns it as a data: URL.
func qrDataURL(text string) (string, error) {
	img, err := qrImage(text)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("otp: encode QR code PNG: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// qrImage draws text's QR code (error correction level M, which survives a
// smudged screen) with its quiet zone, each module a whole number of pixels
// so that no module is blurred.
func qrImage(text string) (*image.Paletted, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("otp: encode QR code: %w", err)
	}
	modules := code.Bounds().Dx()
	side := modules + 2*qrQuietZone
	scale := (qrMinSize + side - 1) / side // the smallest scale reaching qrMinSize
	if side*scale > qrMaxSize {
		scale = max(1, qrMaxSize/side)
	}
	img := image.NewPaletted(image.Rect(0, 0, side*scale, side*scale), color.Palette{color.White, color.Black})
	// Index 0 is white, so the new image is all quiet zone already.
	origin := code.Bounds().Min
	for y := range modules {
		for x := range modules {
			if isDark(code.At(origin.X+x, origin.Y+y)) {
				fillSquare(img, (qrQuietZone+x)*scale, (qrQuietZone+y)*scale, scale)
			}
		}
	}
	return img, nil
}

func isDark(c color.Color) bool {
	y := color.GrayModel.Convert(c).(color.Gray).Y
	return y < 128
}

func fillSquare(img *image.Paletted, x0, y0, size int) {
	for y := y0; y < y0+size; y++ {
		for x := x0; x < x0+size; x++ {
			img.SetColorIndex(x, y, 1)
		}
	}
}
