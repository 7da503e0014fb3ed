// Package configfile loads the YAML configuration files of both binaries the
// same way: ${ENV} expansion, strict decoding (an unknown key is an error with
// its line), and errors that name the file.
package configfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Expand replaces ${NAME} with the environment variable's value. Only the
// braced form is expanded, so a '$' in a password stays as written. An unset
// variable expands to the empty string, as in Telegraf, and is returned in
// unset so that the caller can warn about it.
func Expand(data []byte, lookup func(string) (string, bool)) (out []byte, unset []string) {
	out = envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v, ok := lookup(name)
		if !ok {
			unset = append(unset, name)
		}
		return []byte(v)
	})
	return out, unset
}

// Decode strictly decodes YAML into v. name is used in errors.
func Decode(name string, data []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: empty file", name)
		}
		// yaml.v3 names Go types ("field metrcs not found in type edge.Config");
		// a user wants the key.
		msg := unknownField.ReplaceAllString(err.Error(), `unknown key "$1"`)
		msg = strings.Replace(msg, "yaml: unmarshal errors:\n  ", "", 1)
		return fmt.Errorf("%s: %s", name, msg)
	}
	return nil
}

var unknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)

// Load reads path, expands ${ENV} and strictly decodes it into v. It returns
// warnings for the caller to log: referenced variables that were not set,
// and a secret written into a file that everyone may read.
func Load(path string, v any) (warnings []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 != 0 {
		for _, key := range LiteralSecrets(data) {
			warnings = append(warnings, fmt.Sprintf("%s is world-readable and holds a secret in %q: chmod 600 it, or use %s_file or ${ENV}", path, key, key))
		}
	}
	data, unset := Expand(data, os.LookupEnv)
	for _, name := range unset {
		warnings = append(warnings, fmt.Sprintf("environment variable %s is not set; using an empty value", name))
	}
	return warnings, Decode(path, data, v)
}

// secretKey matches a secret written inline: a password, token or secret
// key with a literal value, not ${ENV}.
var secretKey = regexp.MustCompile(`(?m)^[ \t-]*(password|token|secret|hmac_key)[ \t]*:[ \t]*([^ \t#$\n][^\n]*)$`)

// LiteralSecrets lists the keys that hold a secret written into the file.
func LiteralSecrets(data []byte) []string {
	var keys []string
	for _, m := range secretKey.FindAllSubmatch(data, -1) {
		if v := strings.Trim(strings.TrimSpace(string(m[2])), `"'`); v != "" {
			keys = append(keys, string(m[1]))
		}
	}
	return keys
}
