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
// the names of referenced variables that were not set.
func Load(path string, v any) (unset []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	data, unset = Expand(data, os.LookupEnv)
	return unset, Decode(path, data, v)
}
