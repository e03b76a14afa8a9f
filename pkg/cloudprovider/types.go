package cloudprovider

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// HoursPerMonth converts a monthly price into an hourly one when the catalogue has no hourly
// price (VPSie bills 730 hours a month).
const HoursPerMonth = 730

// Offering is one VPSie size a node can be launched with, with its price.
type Offering struct {
	// ID is the VPSie offering id as a decimal string ("105"); it is also the value of the
	// autoscaling.vpsie.com/offering node label.
	ID string `json:"id"`
	// Name is the human name, e.g. "s-4vcpu-8gb"; it is the node.kubernetes.io/instance-type.
	Name string `json:"name"`
	// Category groups offerings, e.g. "standard", "cpu-optimized", "memory-optimized".
	Category string `json:"category,omitempty"`
	// CPU is the number of vCPUs (cores).
	CPU int64 `json:"cpu"`
	// MemoryMiB is the memory in MiB.
	MemoryMiB int64 `json:"memoryMiB"`
	// DiskGB is the root disk size in GB.
	DiskGB int64 `json:"diskGB,omitempty"`
	// MonthlyPrice in USD.
	MonthlyPrice float64 `json:"monthlyPrice"`
	// HourlyPrice in USD; every cost figure in the autoscaler uses it.
	HourlyPrice float64 `json:"hourlyPrice"`
	// Available is false while launches of this offering are failing (capacity, quota); the
	// simulator does not plan new nodes of an unavailable offering.
	Available bool `json:"available"`
}

// String is the offering's name and id, for messages.
func (o Offering) String() string {
	return fmt.Sprintf("%s (%s)", o.Name, o.ID)
}

// Validate rejects offerings that would make the planner divide by zero or pick nonsense.
func (o Offering) Validate() error {
	if o.ID == "" {
		return fmt.Errorf("offering %q has no id", o.Name)
	}
	if o.Name == "" {
		return fmt.Errorf("offering %s has no name", o.ID)
	}
	if o.CPU <= 0 || o.MemoryMiB <= 0 {
		return fmt.Errorf("offering %s has non-positive size: cpu %d, memory %d MiB", o.Name, o.CPU, o.MemoryMiB)
	}
	if o.HourlyPrice <= 0 || o.MonthlyPrice < 0 {
		return fmt.Errorf("offering %s has a non-positive price: hourly %g, monthly %g", o.Name, o.HourlyPrice, o.MonthlyPrice)
	}
	return nil
}

// catalogueEntry is the shape of one element of the VPSie offers answer (and of the bench
// catalogue): id may come as a number or a string, price is monthly USD, hourly_price optional.
type catalogueEntry struct {
	ID          json.RawMessage `json:"id"`
	Name        string          `json:"name"`
	Category    string          `json:"category"`
	CPU         int64           `json:"cpu"`
	RAM         int64           `json:"ram"`
	Disk        int64           `json:"disk"`
	Price       float64         `json:"price"`
	HourlyPrice *float64        `json:"hourly_price"`
}

// ParseOfferings decodes a catalogue: a JSON array of {id, name, category, cpu, ram (MiB),
// disk (GB), price (monthly USD), hourly_price?}. Hourly price is hourly_price when present,
// else price / 730. Every offering is marked available. Duplicate ids are an error.
func ParseOfferings(data []byte) ([]Offering, error) {
	var entries []catalogueEntry
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("decoding offering catalogue, %w", err)
	}
	out := make([]Offering, 0, len(entries))
	seen := map[string]bool{}
	for i, e := range entries {
		id, err := parseID(e.ID)
		if err != nil {
			return nil, fmt.Errorf("offering %d (%q): %w", i, e.Name, err)
		}
		o := Offering{
			ID:           id,
			Name:         e.Name,
			Category:     e.Category,
			CPU:          e.CPU,
			MemoryMiB:    e.RAM,
			DiskGB:       e.Disk,
			MonthlyPrice: e.Price,
			HourlyPrice:  e.Price / HoursPerMonth,
			Available:    true,
		}
		if e.HourlyPrice != nil {
			o.HourlyPrice = *e.HourlyPrice
		}
		if err := o.Validate(); err != nil {
			return nil, fmt.Errorf("offering %d: %w", i, err)
		}
		if seen[o.ID] {
			return nil, fmt.Errorf("offering %d: duplicate id %s", i, o.ID)
		}
		seen[o.ID] = true
		out = append(out, o)
	}
	return out, nil
}

// LoadOfferings reads a catalogue file (see ParseOfferings).
func LoadOfferings(path string) ([]Offering, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading offering catalogue, %w", err)
	}
	offerings, err := ParseOfferings(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return offerings, nil
}

func parseID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("missing id")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if strings.TrimSpace(s) == "" {
			return "", fmt.Errorf("empty id")
		}
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("id must be a number or a string, got %s", string(raw))
	}
	if _, err := n.Int64(); err != nil {
		return "", fmt.Errorf("id must be an integer, got %s", n)
	}
	return n.String(), nil
}
