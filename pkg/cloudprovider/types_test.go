package cloudprovider

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

func TestParseOfferings(t *testing.T) {
	g := NewWithT(t)
	offerings, err := ParseOfferings([]byte(`[
	 {"id": 105, "name": "s-4vcpu-8gb", "category": "standard", "cpu": 4, "ram": 8192, "disk": 160, "price": 48, "hourly_price": 0.06575},
	 {"id": "abc-1", "name": "x-1", "cpu": 1, "ram": 1024, "price": 73}
	]`))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(offerings).To(Equal([]Offering{
		{ID: "105", Name: "s-4vcpu-8gb", Category: "standard", CPU: 4, MemoryMiB: 8192, DiskGB: 160, MonthlyPrice: 48, HourlyPrice: 0.06575, Available: true},
		// No hourly_price: monthly / 730.
		{ID: "abc-1", Name: "x-1", CPU: 1, MemoryMiB: 1024, MonthlyPrice: 73, HourlyPrice: 0.1, Available: true},
	}))
}

func TestParseOfferingsRejectsBadInput(t *testing.T) {
	cases := map[string]struct{ in, err string }{
		"not json":      {`{`, "decoding offering catalogue"},
		"not an array":  {`{"id": 1}`, "decoding offering catalogue"},
		"missing id":    {`[{"name": "a", "cpu": 1, "ram": 1, "price": 1}]`, "missing id"},
		"float id":      {`[{"id": 1.5, "name": "a", "cpu": 1, "ram": 1, "price": 1}]`, "integer"},
		"zero cpu":      {`[{"id": 1, "name": "a", "cpu": 0, "ram": 1, "price": 1}]`, "non-positive size"},
		"zero price":    {`[{"id": 1, "name": "a", "cpu": 1, "ram": 1, "price": 0}]`, "non-positive price"},
		"duplicate ids": {`[{"id": 1, "name": "a", "cpu": 1, "ram": 1, "price": 1}, {"id": "1", "name": "b", "cpu": 1, "ram": 1, "price": 1}]`, "duplicate id 1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := ParseOfferings([]byte(tc.in))
			g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
		})
	}
}

func TestLoadOfferings(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "offerings.json")
	g.Expect(os.WriteFile(path, []byte(`[{"id": 7, "name": "a", "cpu": 2, "ram": 2048, "price": 14.6}]`), 0o600)).To(Succeed())
	offerings, err := LoadOfferings(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(offerings).To(HaveLen(1))
	g.Expect(offerings[0].HourlyPrice).To(BeNumerically("~", 0.02, 1e-12))

	_, err = LoadOfferings(filepath.Join(dir, "missing.json"))
	g.Expect(err).To(MatchError(ContainSubstring("reading offering catalogue")))

	g.Expect(os.WriteFile(path, []byte(`[{"id": 7}]`), 0o600)).To(Succeed())
	_, err = LoadOfferings(path)
	g.Expect(err).To(MatchError(ContainSubstring(path)))
}

func TestLoadBenchCatalogue(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "bench", "offerings.json")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("bench catalogue %s not present (it lives outside the project): %v", path, err)
	}
	g := NewWithT(t)
	offerings, err := LoadOfferings(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(offerings)).To(BeNumerically(">", 10))
}
