package vpsie

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	// valid answers
	`{"error":false,"code":200,"message":"ok","data":[{"id":1,"name":"k8s-1","cpu":1,"ram":2048,"disk":40,"price":10.5,"hourly_price":0.02}],"total":1}`,
	`{"error":false,"data":{"identifier":"c","cluster_name":"x","nodes":[{"identifier":"n","node_type":"slave","group_id":3,"created_on":"2026-01-01 00:00:00"}]}}`,
	`{"error":false,"data":[{"id":7,"group_name":"g","boxsize_id":"3","is_active":1,"nodes_count":"2"}]}`,
	`{"error":false,"data":true}`,
	`{"error":false,"data":{"identifier":"w","hostname":"h","status":"building"}}`,
	`{"error":false,"data":{"vmData":{"identifier":"v","tags":["a",{"name":"b"}],"state":"running"}}}`,
	`{"error":false,"data":[{"identifier":"p","nickname":"s","price":"7.30","traffic":1000}]}`,
	`{"accessToken":{"token":"t","expires":"2026-11-26T13:00:00Z"},"refreshToken":{"token":"r","expires":"2026-11-27T13:00:00Z"}}`,
	`{"error":false,"data":{"accessToken":"t"}}`,
	`[{"id":1}]`,
	// error answers
	`{"error":true,"code":404,"message":"not found"}`,
	`{"error":"true","code":"429","message":{"detail":["slow down"]}}`,
	`{"error":1,"code":99999}`,
	// wrong types
	`{"error":"maybe","code":[],"message":{}}`,
	`{"error":false,"data":[{"id":{"a":1},"cpu":"lots","price":true}]}`,
	`{"error":false,"data":{"nodes":"none"}}`,
	`{"error":false,"data":[{"tags":42,"is_active":"perhaps"}]}`,
	`{"error":false,"data":"a string"}`,
	`{"error":false,"data":{"vmData":[1,2]}}`,
	`{"accessToken":{"token":{"x":1},"expires":[]}}`,
	// truncated and malformed
	`{"error":false,"data":[{"id":1,`,
	`{"error":`,
	`{`,
	`[`,
	`nul`,
	"\x00\xff\xfe",
	`{"message":"\ud800"}`,
	strings.Repeat("[", 20000),
	// huge numbers
	`{"error":false,"data":[{"id":1e400,"cpu":99999999999999999999999999,"price":1e308,"hourly_price":-1e309}]}`,
	`{"error":true,"code":-9223372036854775809,"total":9223372036854775808}`,
	`{"error":false,"data":[{"id":"NaN","price":"Inf","ram":"-0x10"}]}`,
	`{"accessToken":{"token":"t","expires":99999999999999999999}}`,
}

// FuzzDecodeEnvelope feeds arbitrary bodies and statuses through the answer parser and every
// typed decoder: nothing may panic, and the results must stay consistent.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), uint16(200))
		f.Add([]byte(s), uint16(503))
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	header := http.Header{"Retry-After": {"5"}}
	f.Fuzz(func(t *testing.T, body []byte, status uint16) {
		st := 100 + int(status)%500
		env, err := parseAnswerEnvelope("fuzz", st, header, body, now)
		if err != nil {
			_ = err.Error()
			var apiErr *Error
			if errors.As(err, &apiErr) {
				if apiErr.HTTPStatus < 100 || apiErr.HTTPStatus > 599 || (apiErr.HTTPStatus >= 200 && apiErr.HTTPStatus <= 299) {
					t.Fatalf("error with a success or impossible status %d for answer status %d", apiErr.HTTPStatus, st)
				}
				if len(apiErr.Message) > maxMessageLen+3 {
					t.Fatalf("message of %d bytes escaped truncation", len(apiErr.Message))
				}
			} else if st < 200 || st > 299 {
				t.Fatalf("non-2xx answer %d gave an untyped error: %v", st, err)
			}
			_ = predicatesOf(err)
			return
		}
		if st < 200 || st > 299 {
			t.Fatalf("status %d accepted as success", st)
		}
		_, _ = decodeList[Offering](env.Data)
		_, _ = decodeList[NodeGroup](env.Data)
		_, _ = decodeList[VM](env.Data)
		_, _ = decodeList[Plan](env.Data)
		var cl Cluster
		_ = decodeData(env.Data, &cl)
		var aw AddWorkerResult
		if err := decodeData(env.Data, &aw); err == nil && !aw.Async && (aw.Node == nil || aw.Node.Identifier == "") {
			t.Fatalf("add worker result neither async nor naming a node: %+v", aw)
		}
		_, _ = decodeVMAnswer(env.Data)
		_, _ = nodeGroupFromAnswer(env.Data)
		if a, err := decodeAuthAnswer(env); err == nil && a.access == "" {
			t.Fatal("auth answer accepted without an access token")
		}
	})
}

func TestFlexNumbers(t *testing.T) {
	ints := map[string]struct {
		want int64
		ok   bool
	}{
		`1`: {1, true}, `"42"`: {42, true}, `" 7 "`: {7, true}, `3.0`: {3, true}, `1e3`: {1000, true}, `null`: {0, true}, `""`: {0, true},
		`1.5`: {0, false}, `1e400`: {0, false}, `"abc"`: {0, false}, `true`: {0, false}, `9223372036854775808`: {0, false}, `"NaN"`: {0, false},
	}
	for in, tc := range ints {
		var v flexInt
		err := v.UnmarshalJSON([]byte(in))
		if tc.ok != (err == nil) || (tc.ok && int64(v) != tc.want) {
			t.Errorf("flexInt(%s) = %d, %v; want %d, ok=%v", in, v, err, tc.want, tc.ok)
		}
	}
	floats := map[string]struct {
		want float64
		ok   bool
	}{
		`1.5`: {1.5, true}, `"21.90"`: {21.9, true}, `null`: {0, true}, `"Inf"`: {0, false}, `"NaN"`: {0, false}, `1e309`: {0, false}, `"x"`: {0, false},
	}
	for in, tc := range floats {
		var v flexFloat
		err := v.UnmarshalJSON([]byte(in))
		if tc.ok != (err == nil) || (tc.ok && float64(v) != tc.want) {
			t.Errorf("flexFloat(%s) = %v, %v; want %v, ok=%v", in, v, err, tc.want, tc.ok)
		}
	}
}
