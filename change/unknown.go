package change

// Unknown is an object under a table's prefix that is not a change file of
// the table's format, with the reason: the error of the format's name
// parser. Decoders find them (the Order of a format package), the engine
// stops the table on them unless the job file ignores them, and the CLI
// reports them; it is vocabulary both sides speak, so it lives here, where
// formats/* may import it. (merge.Unknown is an alias of it.)
type Unknown struct {
	Key    string
	Reason error
}
