// Package bench holds Relink's benchmarks that span packages and processes (`make
// bench`): the scheduled sweeps over 10,000–100,000 accounts on DynamoDB (dynalite)
// and the embedded store against a full-scan baseline, email throughput through the
// SES adapter, the admin API's latency in process, and each function binary's cold
// start through the Lambda Runtime API against a minimal handler. Everything is in
// its _test.go files; the package itself is empty.
//
// Every figure is recorded beside its baseline and goal; with RELINK_BENCH_RESULTS set
// the records are appended to that file (JSON lines), and RELINK_BENCH_SUMMARY=1 prints
// the table of every record in it at the end of the run. Stand-ins that are not
// installed skip their benchmarks.
//
// Knobs for a quicker run: RELINK_BENCH_MAX_ACCOUNTS (largest N of the sweeps,
// default 100000), RELINK_BENCH_EMAIL_SECONDS (how long each send rate is held,
// default 10), RELINK_BENCH_API_MOTO=1 (the API over moto as well as dynalite),
// RELINK_BENCH_COLD_MOTO=1 (the cold-started functions' table on moto, not dynalite).
//
//	go test -run '^$' -bench 'Sweep|Email|ColdStart|BinarySize' -benchtime 1x ./internal/bench
//	go test -run '^$' -bench API -benchtime 400x -benchmem ./internal/bench
package bench
