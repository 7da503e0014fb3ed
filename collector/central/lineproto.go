package central

import (
	"strconv"
	"time"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// AppendLines appends the line protocol of an envelope's points (DESIGN.md's
// storage schema): a `reading` point per reading; per interval a
// `consumption` point stamped at its end and, if it crosses hours, a
// `consumption_split` share per hour stamped at the hour's start (the hourly
// rollup spreads intervals with them); a `data_quality` point per event. The
// bytes are what the client library writes for the same points (a test
// compares them), built without a map per point: the collector's hot path.
// Tag values are identifiers that wire.Validate checked, so they need no
// escaping beyond the defensive one in lpTag.
func (c *Converter) AppendLines(dst []byte, env *wire.Envelope) []byte {
	for i := range env.Readings {
		r := &env.Readings[i]
		dst = append(dst, "reading"...)
		dst = lpTag(dst, "energy", r.Energy)
		dst = lpTag(dst, "enterprise", r.Enterprise)
		dst = lpTag(dst, "gateway", env.Gateway)
		dst = lpTag(dst, "meter", r.Meter)
		dst = lpTag(dst, "quantity", r.Quantity)
		dst = lpField(dst, ' ', "value", r.Value)
		dst = lpTime(dst, r.TS)
		if r.Delta == nil {
			continue
		}
		amount := *r.Delta
		res := c.convert(r, amount, time.UnixMilli(r.Since), time.UnixMilli(r.TS))
		scope := strconv.Itoa(res.Scope)
		dst = append(dst, "consumption"...)
		dst = lpTag(dst, "energy", r.Energy)
		dst = lpTag(dst, "enterprise", r.Enterprise)
		dst = lpTag(dst, "meter", r.Meter)
		dst = lpTag(dst, "scope", scope)
		dst = lpField(dst, ' ', "amount", amount)
		if res.HasFactor {
			dst = lpField(dst, ',', "co2_kg", res.CO2kg)
		}
		dst = lpField(dst, ',', "coal_kgce", res.CoalKgce)
		dst = lpField(dst, ',', "duration_s", float64(r.TS-r.Since)/1000)
		if res.HasFactor {
			dst = lpField(dst, ',', "factor_kg_per_unit", res.FactorKgPerUnit)
		}
		dst = lpTime(dst, r.TS)
		dst = c.appendSplit(dst, r, scope, &res)
	}
	for i := range env.Events {
		ev := &env.Events[i]
		dst = append(dst, "data_quality"...)
		dst = lpTag(dst, "enterprise", ev.Enterprise)
		dst = lpTag(dst, "kind", ev.Kind)
		dst = lpTag(dst, "meter", ev.Meter)
		dst = append(dst, ` message="`...)
		dst = lpString(dst, ev.Message)
		dst = append(dst, '"')
		dst = lpField(dst, ',', "value", ev.Value)
		dst = lpTime(dst, ev.TS)
	}
	return dst
}

// appendSplit is splitPoints in line protocol; whole is the interval's
// conversion, which the share of its last hour also carries.
func (c *Converter) appendSplit(dst []byte, r *wire.Reading, scope string, whole *carbon.Result) []byte {
	first, last := hourOf(r.Since+1), hourOf(r.TS)
	if first == last {
		return dst
	}
	total := float64(r.TS - r.Since)
	for h := first; h <= last; h += Hour {
		from, to := max(r.Since, h), min(r.TS, h+Hour)
		share := *r.Delta * float64(to-from) / total
		res := c.convert(r, share, time.UnixMilli(from), time.UnixMilli(to))
		part := "full"
		switch {
		case r.Since > h:
			part = "head"
		case r.TS < h+Hour:
			part = "tail"
		}
		dst = append(dst, "consumption_split"...)
		dst = lpTag(dst, "energy", r.Energy)
		dst = lpTag(dst, "enterprise", r.Enterprise)
		dst = lpTag(dst, "meter", r.Meter)
		dst = lpTag(dst, "part", part)
		dst = lpTag(dst, "scope", scope)
		dst = lpField(dst, ' ', "amount", share)
		if res.HasFactor {
			dst = lpField(dst, ',', "co2_kg", res.CO2kg)
		}
		dst = lpField(dst, ',', "coal_kgce", res.CoalKgce)
		if h == last {
			// The interval's consumption point falls in this hour too: the
			// rollup subtracts it and adds the shares (rollup.go).
			dst = lpField(dst, ',', "interval_amount", *r.Delta)
			if whole.HasFactor {
				dst = lpField(dst, ',', "interval_co2_kg", whole.CO2kg)
			}
			dst = lpField(dst, ',', "interval_coal_kgce", whole.CoalKgce)
		}
		dst = lpTime(dst, h)
	}
	return dst
}

// lpTagSpecial marks the bytes lpTag must rewrite. Read-only.
var lpTagSpecial = [256]bool{' ': true, ',': true, '=': true, '\n': true, '\r': true, '\t': true}

func lpTag(dst []byte, key, value string) []byte {
	dst = append(dst, ',')
	dst = append(dst, key...)
	dst = append(dst, '=')
	// Validated identifiers never need escaping: look first, then copy the
	// whole value (a byte-by-byte append was 8 % of the collector at load).
	clean := true
	for i := 0; i < len(value) && clean; i++ {
		clean = !lpTagSpecial[value[i]]
	}
	if clean {
		return append(dst, value...)
	}
	for i := 0; i < len(value); i++ {
		switch b := value[i]; b {
		case ' ', ',', '=':
			dst = append(dst, '\\', b)
		case '\n', '\r', '\t':
			dst = append(dst, '_')
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

// lpField writes sep key=value; floats as fmt's %v does, which is what
// the client library writes and InfluxDB reads back exactly.
func lpField(dst []byte, sep byte, key string, v float64) []byte {
	dst = append(dst, sep)
	dst = append(dst, key...)
	dst = append(dst, '=')
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// lpString escapes a string field value; line breaks become spaces so
// that no payload can start a new line of line protocol.
func lpString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch b := s[i]; b {
		case '\\', '"':
			dst = append(dst, '\\', b)
		case '\n', '\r':
			dst = append(dst, ' ')
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

func lpTime(dst []byte, ms int64) []byte {
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, '\n')
}
