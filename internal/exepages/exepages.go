// Package exepages hands the pages of a process's own executable back to the
// kernel once start-up is over.
//
// A Go binary's code and read-only data (about 10 MB of the edge agent's
// 11) are file pages that count in its RSS. The kernel maps them 64 kB at a
// time around every page touched ("fault-around"), so by the end of start-up
// (YAML, profile validation, TLS and metrics set-up) nearly all of the binary
// is resident, though a steady poll loop runs about half of it. Release pages
// those mappings out and turns their read-ahead off, so that from then on a
// page is read back only when it runs again, one page at a time: the agent's
// RSS becomes what it uses (BENCHMARKS.md, "Edge").
package exepages
