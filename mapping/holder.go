package mapping

import "sync/atomic"

// Holder is the mapping in force for one process. Readers never see half a
// document: a new compiled mapping and its version replace the old pair in
// a single store.
type Holder struct {
	current atomic.Pointer[held]
}

type held struct {
	m *Mapping
	v int64
}

// NewHolder starts with m (which may be an empty mapping) at version v.
func NewHolder(m *Mapping, v int64) *Holder {
	h := &Holder{}
	h.Set(m, v)
	return h
}

// Current is the mapping in force.
func (h *Holder) Current() *Mapping { return h.current.Load().m }

// Version is the stored version Current came from (0: not from the store).
func (h *Holder) Version() int64 { return h.current.Load().v }

// Set swaps in a new mapping.
func (h *Holder) Set(m *Mapping, v int64) { h.current.Store(&held{m, v}) }
