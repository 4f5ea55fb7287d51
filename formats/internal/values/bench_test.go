package values

import "testing"

// BenchmarkParse measures the parsers on the values of the decoders'
// benchmark files. Compare runs with
//
//	go test ./formats/internal/values -run - -bench Parse -count 10 > new.txt; benchstat old.txt new.txt
func BenchmarkParse(b *testing.B) {
	ts := []byte("2024-05-28 19:51:41.388146")
	zoned := []byte("2024-05-28T19:51:41.388146Z")
	dec := []byte("12345.67")
	wide := []byte("-12345678901234567890.123456")
	date := []byte("1996-07-16")
	i := []byte("1000123")
	b.Run("value=timestamp", func(b *testing.B) {
		for b.Loop() {
			ParseTimestamp(ts)
		}
	})
	b.Run("value=zoned", func(b *testing.B) {
		for b.Loop() {
			ParseZonedTimestamp(zoned)
		}
	})
	b.Run("value=decimal", func(b *testing.B) {
		for b.Loop() {
			ParseDecimal(dec, 12, 2)
		}
	})
	b.Run("value=wide_decimal", func(b *testing.B) {
		for b.Loop() {
			ParseDecimal(wide, 38, 6)
		}
	})
	b.Run("value=date", func(b *testing.B) {
		for b.Loop() {
			ParseDate(date)
		}
	})
	b.Run("value=int", func(b *testing.B) {
		for b.Loop() {
			ParseInt(i, 64)
		}
	})
}
