package queue

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// ByKey runs handle once per item: items with the same key one after
// another, in less order (arrival order breaks ties; a nil less keeps
// arrival order), and different keys concurrently, at most parallelism at
// once, started in the order their keys first appear. It returns one error
// per item, in the items' order. Once ctx is done no further item starts;
// each one left gets an error wrapping ctx's, so the queue retries it.
func ByKey[T any](ctx context.Context, items []T, parallelism int, key func(T) string,
	less func(a, b T) bool, handle func(context.Context, T) error) []error {
	errs := make([]error, len(items))
	groups := map[string][]int{}
	var order []string
	for i, it := range items {
		k := key(it)
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	notStarted := func(i int) { errs[i] = fmt.Errorf("not handled: %w", ctx.Err()) }
	sem := make(chan struct{}, max(parallelism, 1))
	var wg sync.WaitGroup
	for _, k := range order {
		group := groups[k]
		if less != nil {
			sort.SliceStable(group, func(a, b int) bool { return less(items[group[a]], items[group[b]]) })
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for _, i := range group {
				notStarted(i)
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, i := range group {
				if ctx.Err() != nil {
					notStarted(i)
					continue
				}
				errs[i] = handle(ctx, items[i])
			}
		}()
	}
	wg.Wait()
	return errs
}
