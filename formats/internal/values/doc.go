// Package values parses the text of single values as both decoders read
// them (formats/dmscsv from CSV fields, formats/debezium from JSON numbers
// and strings): integers, dates, times, timestamps, exact decimals and digit
// strings. It is the one implementation of each, fuzzed once (FuzzParse,
// against strconv, time and math/big).
//
// Every parser takes the raw bytes of one value and returns the value or one
// of the sentinel errors below; the errors are short reasons, and the
// decoder adds file, line, column and the value itself. Nothing goes through
// float64 except ParseFloat, and nothing allocates on success except
// ParseBigDecimal.
//
// Digit checks come in two meanings, named apart: OnlyDigits is true when
// no byte is outside '0'..'9' (so also for empty input: a fraction may be
// empty), Numeral when there is at least one digit and nothing else (a
// number in a file name).
package values
