package sensor

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// checkFilter validates an MQTT topic filter (MQTT 3.1.1 §4.7) and returns its levels.
func checkFilter(filter string) ([]string, error) {
	switch {
	case filter == "":
		return nil, errors.New("topic filter missing")
	case len(filter) > 65535:
		return nil, errors.New("topic filter longer than 65535 bytes")
	case !utf8.ValidString(filter) || strings.ContainsRune(filter, 0):
		return nil, errors.New("topic filter is not valid UTF-8 without NUL")
	case strings.HasPrefix(filter, "$share/"):
		// Sharing is how the edge agent subscribes, not what a sensor publishes.
		return nil, fmt.Errorf("topic filter %q: give the plain filter; a shared subscription is the edge config's business", filter)
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return nil, fmt.Errorf("topic filter %q: '#' must be the last level", filter)
		case l != "#" && l != "+" && strings.ContainsAny(l, "#+"):
			return nil, fmt.Errorf("topic filter %q: a wildcard must fill a whole level", filter)
		}
	}
	return levels, nil
}

// checkSegment tells whether topic level i of a filter's matches can name a meter or
// an enterprise: it must be a wildcard level, or lie under a trailing '#'.
func checkSegment(levels []string, i int) error {
	switch {
	case i < 0:
		return fmt.Errorf("segment %d: want a 0-based topic level", i)
	case i < len(levels) && (levels[i] == "+" || levels[i] == "#"):
		return nil
	case i < len(levels):
		return fmt.Errorf("segment %d is the fixed level %q of %s: use value instead", i, levels[i], strings.Join(levels, "/"))
	case levels[len(levels)-1] == "#":
		return nil
	}
	return fmt.Errorf("segment %d: topic filter %s has only %d levels", i, strings.Join(levels, "/"), len(levels))
}

// match reports whether topic matches the filter levels and returns the topic's levels
// at indices a and b ("" where the topic has no such level; -1 asks for none). It walks
// the topic once and allocates nothing, since it runs for every message.
func match(levels []string, topic string, a, b int) (la, lb string, ok bool) {
	if topic == "" {
		return "", "", false
	}
	multi := false // under a trailing '#'
	rest, n := topic, 0
	for more := true; more; n++ {
		var level string
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			level, rest = rest[:j], rest[j+1:]
		} else {
			level, more = rest, false
		}
		if !multi {
			if n >= len(levels) {
				return "", "", false
			}
			switch f := levels[n]; f {
			case "#", "+":
				// Wildcards at the first level do not match $SYS-like topics (§4.7.2).
				if n == 0 && strings.HasPrefix(topic, "$") {
					return "", "", false
				}
				multi = f == "#"
			default:
				if f != level {
					return "", "", false
				}
			}
		}
		if n == a {
			la = level
		}
		if n == b {
			lb = level
		}
	}
	// "a/#" also matches "a" itself (§4.7.1.2).
	if !multi && !(n == len(levels) || n == len(levels)-1 && levels[n] == "#") {
		return "", "", false
	}
	return la, lb, true
}
