package apk_test

import (
	"testing"

	"github.com/palisade-project/palisade/internal/extractor/apk"
	"github.com/palisade-project/palisade/internal/extractor/extractortest"
)

func TestFixtures(t *testing.T) {
	extractortest.Run(t, apk.New(), "testdata")
}
