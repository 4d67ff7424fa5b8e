package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/cityhealth/bridge/test/twiliosim"
)

// startFaults runs the soak's fault schedule while the load runs. The
// returned stop ends it, undoes what is still in force (every process and
// Redis running, Salesforce healthy) and lists what happened when.
func startFaults(e *env) (stop func() []string) {
	start := time.Now()
	var mu sync.Mutex
	var log []string
	note := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, fmt.Sprintf("t=%5.1fs ", time.Since(start).Seconds())+fmt.Sprintf(format, args...))
	}
	victim := e.bridges[1]
	steps := []struct {
		at time.Duration
		do func()
	}{
		{3 * time.Second, func() {
			e.sf.Fail503(40)
			e.sf.LockFraction(0.2)
			note("Salesforce: next 40 calls answer 503; 20%% of row writes UNABLE_TO_LOCK_ROW")
		}},
		{8 * time.Second, func() {
			pid := victim.Pid()
			victim.Kill()
			note("kill -9 %s (pid %d)", victim.Name, pid)
		}},
		{11 * time.Second, func() {
			if err := victim.Start(); err != nil {
				note("restart %s failed: %v", victim.Name, err)
				return
			}
			note("%s restarted (pid %d), same instance id and port", victim.Name, victim.Pid())
		}},
		{16 * time.Second, func() {
			e.tw.FailNext(twiliosim.OpCreateTask, 10, 503)
			note("Twilio: next 10 task creates answer 503")
		}},
		{18 * time.Second, func() {
			t0 := time.Now()
			if err := e.redis.Restart(); err != nil {
				note("Redis restart failed: %v", err)
				return
			}
			note("Redis restarted on %s from its AOF (down %.1f s)", e.redis.Addr(), time.Since(t0).Seconds())
		}},
		{28 * time.Second, func() {
			e.sf.LockFraction(0)
			note("Salesforce row locks off")
		}},
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, s := range steps {
			select {
			case <-done:
				return
			case <-time.After(time.Until(start.Add(s.at))):
				s.do()
			}
		}
	})
	return func() []string {
		close(done)
		wg.Wait()
		e.sf.LockFraction(0)
		if victim.Pid() == 0 {
			if err := victim.Start(); err != nil {
				note("late restart of %s failed: %v", victim.Name, err)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		return log
	}
}
