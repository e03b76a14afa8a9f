package main

import (
	"fmt"
	"html/template"
	"io"
)

// The page is one file with inline CSS and SVG: it must open from a CI artifact or a mail
// attachment with no network, and it needs no script (hover titles carry the details).
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"style": func(width float64, color string) template.CSS {
		return template.CSS(fmt.Sprintf("width:%.3f%%;background:%s", width, color))
	},
	"money": func(v float64) string { return fmt.Sprintf("$%.4f", v) },
	"pct":   func(v float64) string { return fmt.Sprintf("%.0f%%", v) },
	"mul":   func(a float64, n int) float64 { return a * float64(n) },
	"sub":   func(a, b int) int { return a - b },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:20px 28px;color:#1f2430;background:#f7f8fa}
h1{font-size:20px;margin:0 0 2px}
h2{font-size:15px;margin:22px 0 8px}
.muted{color:#6b7280}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:6px 12px;min-width:96px}
.card b{display:block;font-size:17px}
.card.bad b{color:#c0392b}
table{border-collapse:collapse;background:#fff;border:1px solid #dde1e7}
th,td{padding:3px 10px;text-align:right;border-bottom:1px solid #eef0f3}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
th{background:#f0f2f5;font-weight:600}
.cmp{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:8px 12px;max-width:760px}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;max-width:1300px}
.legend span{white-space:nowrap}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;vertical-align:-1px;margin-right:4px}
.nodes{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:4px 8px}
.row{display:grid;grid-template-columns:3.4em 17.5em 14em 4.6em 1fr 6.6em 1fr 8.4em;gap:8px;align-items:center;min-height:17px;border-bottom:1px solid #f0f2f5;font-size:12px}
.row.head{font-weight:600;color:#4b5563;border-bottom:1px solid #dde1e7}
.row .n{text-align:right;font-variant-numeric:tabular-nums}
.row .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.row .off{overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:#374151}
.bar{position:relative;display:flex;height:12px;background:#e6e9ee;border-radius:2px;overflow:hidden}
.bar span{display:block;height:100%;flex:none;box-shadow:inset -1px 0 0 rgba(255,255,255,.6)}
.row .use{font-size:11px;color:#374151;font-variant-numeric:tabular-nums;white-space:nowrap}
ul.reasons{margin:2px 0 8px;padding-left:20px}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<div class="muted">{{.Inputs}}</div>
{{with .Summary}}
<div class="cards" id="totals">
<div class="card"><span class="muted">pending pods</span><b id="pending">{{.Pending}}</b></div>
<div class="card"><span class="muted">on existing nodes</span><b id="on-existing">{{.OnExisting}}</b></div>
<div class="card"><span class="muted">on new nodes</span><b id="on-new">{{.OnNew}}</b></div>
<div class="card{{if .Unschedulable}} bad{{end}}"><span class="muted">unschedulable</span><b id="unschedulable">{{.Unschedulable}}</b></div>
<div class="card"><span class="muted">new nodes</span><b id="new-nodes">{{.NewNodeCount}}</b></div>
<div class="card"><span class="muted">cost per hour</span><b id="hourly-cost">{{money .HourlyCost}}</b></div>
<div class="card"><span class="muted">cost per month</span><b id="monthly-cost">${{printf "%.2f" .MonthlyCost}}</b></div>
<div class="card"><span class="muted">lower bound per hour</span><b id="lower-bound">{{money .LowerBoundHourly}}</b></div>
<div class="card"><span class="muted">cost / lower bound</span><b id="ratio">{{printf "%.3f" .CostOverLowerBound}}</b></div>
<div class="card"><span class="muted">solve time</span><b id="solve">{{printf "%.3f" .SolveSeconds}} s</b></div>
</div>
{{end}}
<h2>Cost against the lower bound</h2>
<div class="cmp">
<svg width="740" height="52" viewBox="0 0 740 52" role="img" aria-label="plan cost against lower bound">
<text x="0" y="15" font-size="12">plan {{money .Summary.HourlyCost}}/h</text>
<rect id="cost-bar" x="190" y="4" width="{{printf "%.1f" .CostBar}}" height="15" fill="#4e79a7"/>
<text x="0" y="41" font-size="12">lower bound {{money .Summary.LowerBoundHourly}}/h</text>
<rect id="lower-bound-bar" x="190" y="30" width="{{printf "%.1f" .LowerBar}}" height="15" fill="#9aa5b1"/>
</svg>
<div class="muted">No packing of these pods onto these offerings can cost less than the lower bound (the LP relaxation of covering the pending demand).</div>
</div>
{{if .Offerings}}
<h2>New nodes by offering</h2>
<table id="offerings">
<tr><th>node group</th><th>offering</th><th>nodes</th><th>$/h each</th><th>$/h total</th><th>cpu used</th><th>memory used</th></tr>
{{range .Offerings}}<tr><td>{{.NodeGroup}}</td><td>{{.Name}}</td><td>{{.Count}}</td><td>{{printf "%.5f" .Price}}</td><td>{{printf "%.4f" (mul .Price .Count)}}</td><td>{{pct .CPUFill}}</td><td>{{pct .MemFill}}</td></tr>
{{end}}</table>
{{end}}
<h2>Workloads</h2>
<div class="legend">
<span><i class="sw" style="background:#555b66"></i>daemonsets (new nodes) / already running (existing nodes)</span>
{{range .Legend}}<span title="{{.Pods}} pods, {{.CPU}} cpu, {{.Mem}}"><i class="sw" style="background:{{.Color}}"></i>{{.Name}} <span class="muted">({{.Pods}})</span></span>
{{end}}</div>
{{define "rows"}}
<div class="row head"><span class="n">nodes</span><span>name</span><span>node group / offering</span><span class="n">$/h</span><span>cpu requests</span><span class="use">/ allocatable</span><span>memory requests</span><span class="use">/ allocatable</span></div>
{{range .}}<div class="row node{{if .New}} new{{end}}" data-count="{{.Count}}" data-pods="{{.Pods}}"><span class="n">{{if gt .Count 1}}×{{.Count}}{{else}}1{{end}}</span><span class="name" title="{{.Range}}">{{.Name}}{{if gt .Count 1}} <span class="muted">+{{sub .Count 1}}</span>{{end}}</span><span class="off"><span class="muted">{{.NodeGroup}} /</span> {{.Offering}}</span><span class="n">{{if .New}}{{printf "%.4f" .Price}}{{else}}–{{end}}</span><div class="bar cpu">{{range .CPU}}<span style="{{style .Width .Color}}" title="{{.Title}}"></span>{{end}}</div><span class="use">{{.CPUText}}</span><div class="bar mem">{{range .Mem}}<span style="{{style .Width .Color}}" title="{{.Title}}"></span>{{end}}</div><span class="use">{{.MemText}}</span></div>
{{end}}{{end}}
{{if .Existing}}
<h2>Existing nodes receiving pending pods ({{len .Existing}})</h2>
<div class="nodes" id="existing-nodes">{{template "rows" .Existing}}</div>
{{end}}
{{if .IdleExisting}}<p class="muted">{{.IdleExisting}} other existing nodes receive no pending pods.</p>{{end}}
{{if .New}}
<h2>New nodes ({{.Summary.NewNodeCount}}, identical nodes folded: {{len .New}} rows)</h2>
<div class="nodes" id="new-nodes-list">{{template "rows" .New}}</div>
{{end}}
{{if .Unplaceable}}
<h2>Unschedulable pods ({{.Summary.Unschedulable}})</h2>
<div id="unschedulable-pods">
{{range .Unplaceable}}<div><b>{{range $i, $p := .Pods}}{{if $i}}, {{end}}{{$p}}{{end}}</b>
<ul class="reasons">{{range .Reasons}}<li>{{.}}</li>{{end}}</ul></div>
{{end}}</div>
{{end}}
</body>
</html>
`))

func renderReport(w io.Writer, data *reportData) error {
	return reportTemplate.Execute(w, data)
}
