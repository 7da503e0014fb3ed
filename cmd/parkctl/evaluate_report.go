package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/parkcarbon/parkcarbon/carbon"
)

// writeReport prints an evaluation as table, md, csv or json.
func writeReport(w io.Writer, ev *carbon.Evaluation, format, tz string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(ev)
	case "csv":
		return writeCSV(w, ev)
	case "md":
		return writeText(w, ev, tz, true)
	default:
		return writeText(w, ev, tz, false)
	}
}

// textTable aligns columns with two spaces between them. Every row keeps
// all its cells (an empty last one too), or tabwriter would end the column
// there; the padding that leaves at line ends is trimmed.
func textTable(b *bytes.Buffer, header []string, rows [][]string) {
	var aligned bytes.Buffer
	tw := tabwriter.NewWriter(&aligned, 0, 0, 2, ' ', 0)
	for _, r := range append([][]string{header}, rows...) {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush() // writes to a bytes.Buffer, which cannot fail
	for line := range strings.Lines(aligned.String()) {
		b.WriteString(strings.TrimRight(line, " \n") + "\n")
	}
}

// mdTable writes a GitHub-flavoured markdown table.
func mdTable(b *bytes.Buffer, header []string, rows [][]string) {
	line := func(cells []string) {
		esc := make([]string, len(cells))
		for i, c := range cells {
			esc[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		b.WriteString("| " + strings.Join(esc, " | ") + " |\n")
	}
	line(header)
	b.WriteString("|" + strings.Repeat("---|", len(header)) + "\n")
	for _, r := range rows {
		line(r)
	}
}

// writeText writes the human formats. It builds the report in memory (a
// bytes.Buffer cannot fail) and writes it once.
func writeText(w io.Writer, ev *carbon.Evaluation, tz string, md bool) error {
	var b bytes.Buffer
	tab := textTable
	heading := func(s string) { b.WriteString(s + "\n") }
	if md {
		tab = mdTable
		heading = func(s string) { b.WriteString("## " + s + "\n\n") }
	}
	title := "Per-mu evaluation (亩均效益) " + ev.Period
	if md {
		title = "# " + title + "\n"
	}
	frac := strconv.FormatFloat(ev.YearFraction, 'f', 6, 64)
	for _, l := range []string{
		title,
		fmt.Sprintf("Period: %s to %s (%s), %d days = %s of a year.", shortTime(ev.Start), shortTime(ev.End), tz, ev.Days, frac),
		"Scheme: " + ev.Scheme + ".",
		"Score = Σ min(ratio, cap) × weight; ratio = value ÷ benchmark, or benchmark ÷ value where lower is better.",
		fmt.Sprintf("Indicators are annual: registry figures as given, metered quantities ÷ %s. Energy counts electricity at %s kgce/kWh.",
			frac, num(ev.ElectricityKgcePerKWh)),
	} {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n")

	for _, g := range ev.Groups {
		heading(fmt.Sprintf("Group %q: %s; %d rated; classes %s", g.Name, g.Filter, g.Rated, g.Classes))
		var specs [][]string
		for _, s := range g.Indicators {
			specs = append(specs, []string{s.Indicator, s.Unit, string(s.Direction), human(s.Benchmark), num(s.Weight), num(s.Cap), string(s.Missing)})
		}
		tab(&b, []string{"INDICATOR", "UNIT", "BETTER", "BENCHMARK", "WEIGHT", "CAP", "IF N/A"}, specs)
		b.WriteString("\n")
		var rows [][]string
		for _, r := range ev.Rows {
			if r.Group != g.Name {
				continue
			}
			for k, s := range r.Indicators {
				lead := []string{"", "", "", "", ""}
				if k == 0 {
					lead = []string{fmt.Sprintf("%d/%d", r.Rank, r.RankOf), r.Class, fixed(r.Score, 2), r.ID, r.Name}
				}
				note := s.NA
				if s.Capped {
					note = "capped at " + num(s.Cap)
				}
				rows = append(rows, append(lead, s.Indicator, humanNum(s.Value), fixed(s.Ratio, 4), strconv.FormatFloat(s.Points, 'f', 2, 64), note))
			}
		}
		if len(rows) == 0 {
			b.WriteString("No enterprise in this group.\n\n")
			continue
		}
		tab(&b, []string{"RANK", "CLASS", "SCORE", "ENTERPRISE", "NAME", "INDICATOR", "VALUE", "RATIO", "POINTS", "NOTE"}, rows)
		b.WriteString("\n")
	}

	var others [][]string
	for _, r := range ev.Rows {
		if r.Group == "" {
			class := r.Class
			if class == "" {
				class = "-"
			}
			others = append(others, []string{class, r.ID, r.Name, r.Reason})
		}
	}
	if len(others) > 0 {
		heading("Not rated (T) and out of scope (-)")
		tab(&b, []string{"CLASS", "ENTERPRISE", "NAME", "REASON"}, others)
		b.WriteString("\n")
	}

	heading("Metered in the period, and intensities")
	b.WriteString("tce as stored (electricity at 0.1229 kgce/kWh); per mu: the period's consumption; per 10,000 CNY: the annual figure pro-rated to the period.\n\n")
	var metered [][]string
	var notes []string
	for _, r := range ev.Rows {
		t, in := r.Totals, r.Intensity
		metered = append(metered, []string{r.ID, human(t.ElectricityKWh), human(t.GasM3), human(t.WaterM3), human(t.HeatGJ),
			human(t.CoalKgce / 1000), human(t.CO2kg / 1000), humanNum(in.KgcePerMu), humanNum(in.KgCO2PerMu), humanNum(in.KWhPerMu),
			humanNum(in.TCO2Per10kCNYOutput), humanNum(in.TCO2Per10kCNYValueAdded), humanNum(in.TcePer10kCNYValueAdded)})
		for _, n := range r.Notes {
			notes = append(notes, r.ID+": "+n)
		}
	}
	tab(&b, []string{"ENTERPRISE", "kWh", "GAS m3", "WATER m3", "HEAT GJ", "tce", "tCO2", "kgce/mu", "kgCO2/mu", "kWh/mu",
		"tCO2/10k CNY OUTPUT", "tCO2/10k CNY VA", "tce/10k CNY VA"}, metered)
	if len(notes) > 0 {
		b.WriteString("\n")
		heading("Notes")
		for _, n := range notes {
			if md {
				b.WriteString("- ")
			}
			b.WriteString(n + "\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeCSV writes one row per enterprise and indicator (one row for an
// enterprise without indicators), with full-precision numbers.
func writeCSV(w io.Writer, ev *carbon.Evaluation) error {
	cw := csv.NewWriter(w)
	header := []string{"period", "group", "rank", "rank_of", "class", "score", "enterprise", "name", "scale", "land_area_mu",
		"indicator", "unit", "direction", "value", "benchmark", "ratio", "cap", "capped", "weight", "points", "note",
		"electricity_kwh", "gas_m3", "water_m3", "heat_gj", "coal_kgce", "co2_kg"}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range ev.Rows {
		rank, rankOf := "", ""
		if r.Rank > 0 {
			rank, rankOf = strconv.Itoa(r.Rank), strconv.Itoa(r.RankOf)
		}
		lead := []string{ev.Period, r.Group, rank, rankOf, r.Class, csvNum(r.Score), r.ID, r.Name, string(r.Scale), csvFloat(r.LandAreaMu)}
		t := r.Totals
		tail := []string{csvFloat(t.ElectricityKWh), csvFloat(t.GasM3), csvFloat(t.WaterM3), csvFloat(t.HeatGJ), csvFloat(t.CoalKgce), csvFloat(t.CO2kg)}
		if len(r.Indicators) == 0 {
			note := strings.Join(append([]string{r.Reason}, r.Notes...), "; ")
			row := append(append(lead, "", "", "", "", "", "", "", "", "", "", strings.TrimPrefix(note, "; ")), tail...)
			if err := cw.Write(row); err != nil {
				return err
			}
			continue
		}
		for _, s := range r.Indicators {
			note := strings.Join(append([]string{s.NA}, r.Notes...), "; ")
			row := append(append(lead, s.Indicator, s.Unit, string(s.Direction), csvNum(s.Value), csvFloat(s.Benchmark), csvNum(s.Ratio),
				csvFloat(s.Cap), strconv.FormatBool(s.Capped), csvFloat(s.Weight), csvFloat(s.Points), strings.TrimPrefix(note, "; ")), tail...)
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

func csvFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func csvNum(n carbon.Num) string {
	if !n.OK {
		return ""
	}
	return csvFloat(n.V)
}

// shortTime shows an RFC 3339 bound as "2026-10-01 00:00".
func shortTime(s string) string {
	if len(s) >= 16 {
		return s[:10] + " " + s[11:16]
	}
	return s
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func fixed(n carbon.Num, prec int) string {
	if !n.OK {
		return "N/A"
	}
	return strconv.FormatFloat(n.V, 'f', prec, 64)
}

func humanNum(n carbon.Num) string {
	if !n.OK {
		return "N/A"
	}
	return human(n.V)
}

// human formats for reading: thousands grouped above 1,000, four
// significant digits below 1.
func human(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1000:
		s := strconv.FormatFloat(math.Round(a), 'f', 0, 64)
		var b strings.Builder
		if v < 0 {
			b.WriteByte('-')
		}
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}
