package main

import (
	"context"
	"fmt"
	"time"

	"github.com/cityhealth/bridge/connector/redis"
	"github.com/cityhealth/bridge/test/world"
)

// sfTime is how sfsim (and Salesforce) writes CreatedDate (ms precision).
const sfTime = "2006-01-02T15:04:05.000-0700"

// report prints what reached the stand-ins and checks exactly-once: every
// accepted outcome is one row, every accepted record one task, nothing is
// dead-lettered. It returns false when a check fails.
func report(e *env, r *result) bool {
	ok := true
	check := func(good bool, format string, args ...any) {
		mark := "ok  "
		if !good {
			mark, ok = "FAIL", false
		}
		fmt.Printf("  [%s] %s\n", mark, fmt.Sprintf(format, args...))
	}

	// Rows: one per accepted outcome, found by its external id.
	bySID := map[string]int{}
	for n := range r.acceptedOutcome {
		bySID[world.TaskSID(n)] = n
	}
	rowCount := map[string]int{}
	var rowLand []time.Duration
	stray := 0
	rows := e.sf.Records("Task")
	for _, row := range rows {
		ext, _ := row["Twilio_Task_Sid__c"].(string)
		rowCount[ext]++
		n, want := bySID[ext]
		if !want {
			stray++
			continue
		}
		if rowCount[ext] == 1 {
			if t, err := time.Parse(sfTime, fmt.Sprint(row["CreatedDate"])); err == nil {
				rowLand = append(rowLand, max(0, t.Sub(r.acceptedOutcome[n])))
			}
		}
	}
	dupRows := 0
	for _, c := range rowCount {
		if c > 1 {
			dupRows++
		}
	}

	// Tasks: one per accepted record.
	byRecord := map[string]int{}
	for n := range r.acceptedRecord {
		byRecord[world.ContactID(n)] = n
	}
	taskCount := map[string]int{}
	var taskLand []time.Duration
	strayTasks := 0
	tasks := e.tw.Tasks()
	for _, t := range tasks {
		crm, _ := t.Attributes["crm"].(map[string]any)
		id, _ := crm["record_id"].(string)
		taskCount[id]++
		n, want := byRecord[id]
		if !want {
			strayTasks++
			continue
		}
		if taskCount[id] == 1 {
			taskLand = append(taskLand, max(0, t.DateCreated.Sub(r.acceptedRecord[n])))
		}
	}
	dupTasks := 0
	for _, c := range taskCount {
		if c > 1 {
			dupTasks++
		}
	}

	sfCalls := e.sf.APICalls()
	twCalls := e.tw.TotalCalls()
	fmt.Printf("time to land (accepted → row in Salesforce): p50 %s p99 %s max %s (%d rows)\n",
		pct(rowLand, 0.5), pct(rowLand, 0.99), pct(rowLand, 1), len(rowLand))
	fmt.Printf("time to land (accepted → task in TaskRouter): p50 %s p99 %s max %s (%d tasks)\n",
		pct(taskLand, 0.5), pct(taskLand, 0.99), pct(taskLand, 1), len(taskLand))
	if n := len(r.acceptedOutcome); n > 0 {
		fmt.Printf("Salesforce: %d API calls (+%d token calls) = %.1f per 1000 writebacks\n",
			sfCalls, e.sf.TokenCalls(), float64(sfCalls)*1000/float64(n))
	}
	if r.notifications > 0 {
		fmt.Printf("Twilio: %d calls = %.3f per notification sent (%d incl. re-deliveries), %.3f per distinct record\n",
			twCalls, float64(twCalls)/float64(r.notifications), r.notifications, float64(twCalls)/float64(max(1, len(r.acceptedRecord))))
	}
	for _, p := range e.bridges {
		fmt.Printf("peak RSS %s (pid %d): %.1f MiB\n", p.Name, p.Pid(), float64(p.PeakRSSKB())/1024)
	}

	fmt.Println("exactly once:")
	check(len(rowLand) == len(r.acceptedOutcome) && dupRows == 0 && stray == 0 && len(rows) == len(r.acceptedOutcome),
		"rows == distinct outcomes: %d rows, %d distinct accepted outcomes, %d written twice, %d unexpected", len(rows), len(r.acceptedOutcome), dupRows, stray)
	check(len(taskLand) == len(r.acceptedRecord) && dupTasks == 0 && strayTasks == 0 && len(tasks) == len(r.acceptedRecord),
		"tasks == distinct records: %d tasks, %d distinct accepted records, %d with two tasks, %d unexpected", len(tasks), len(r.acceptedRecord), dupTasks, strayTasks)
	dl, err := redis.NewDeadLetters(e.rdb).List(context.Background(), 100)
	check(err == nil && len(dl) == 0, "no dead letters: %d (%v)", len(dl), err)
	for i, d := range dl {
		if i == 5 {
			break
		}
		fmt.Printf("    dead letter %s: %s\n", d.Key, d.Error)
	}
	return ok
}
