// Package bench measures the bridge against the figures SPEC.md's "Timing
// and cost" sets: webhook intake, click-to-call latency, Salesforce calls
// per writeback and the drain after an outage. Everything runs on loopback
// against a private redis-server and the vendor stand-ins.
//
//	go test -run '^$' -bench . -benchtime 3x ./test/bench/
//
// Without -bench nothing here runs, so `go test ./...` stays fast.
package bench
