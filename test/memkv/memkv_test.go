package memkv_test

import (
	"testing"

	"github.com/cityhealth/bridge/test/kvcontract"
	"github.com/cityhealth/bridge/test/memkv"
)

func TestContract(t *testing.T) {
	kvcontract.Run(t, func(*testing.T) kvcontract.Store { return &memkv.Store{} })
}

func TestScheduleContract(t *testing.T) {
	kvcontract.RunSchedule(t, func(*testing.T) kvcontract.Schedule { return &memkv.Schedule{} })
}

func TestRecencyContract(t *testing.T) {
	kvcontract.RunRecency(t, func(*testing.T) kvcontract.Recency { return &memkv.Store{} })
}
