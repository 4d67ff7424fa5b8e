package config

import _ "embed"

// ExampleMapping is the mapping document from SPEC.md, a starting point for
// deployers and the demo's mapping.
//
//go:embed mapping.example.yaml
var ExampleMapping string
