package alert

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strconv"
)

// NewNotifiers builds the notifiers cfg.Notifiers configures, reading their
// secrets (files or environment variables) now, so that a missing secret
// fails at start. Nothing is dialled before the first notification.
func NewNotifiers(cfg *Config, log *slog.Logger) ([]Notifier, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var out []Notifier
	for _, w := range cfg.Notifiers.Webhooks {
		secret, err := readSecret(w.SecretFile, w.SecretEnv, log)
		if err != nil {
			return nil, fmt.Errorf("alerts: line %d: webhook %q: %w", w.Line, w.Name, err)
		}
		if len(secret) == 0 {
			return nil, fmt.Errorf("alerts: line %d: webhook %q: the secret is empty", w.Line, w.Name)
		}
		out = append(out, NewWebhook(w, secret))
	}
	if m := cfg.Notifiers.MQTT; m != nil {
		var password []byte
		if m.PasswordFile != "" || m.PasswordEnv != "" {
			var err error
			if password, err = readSecret(m.PasswordFile, m.PasswordEnv, log); err != nil {
				return nil, fmt.Errorf("alerts: notifiers.mqtt: %w", err)
			}
		}
		id := m.ClientID
		if cfg.Shard.Count > 1 {
			id += "-" + strconv.Itoa(cfg.Shard.Index) // the broker drops a second client with the same id
		}
		out = append(out, NewMQTT(*m, id, string(password)))
	}
	for _, a := range cfg.Notifiers.Alertmanagers {
		out = append(out, NewAlertmanager(a, cfg.GeneratorURL))
	}
	return out, nil
}

// readSecret reads a secret from a file (trailing newline removed) or an
// environment variable. It never returns the secret in an error.
func readSecret(file, env string, log *slog.Logger) ([]byte, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set", env)
		}
		return []byte(v), nil
	}
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("secret file is readable by others; chmod 600 it", "file", file, "mode", fi.Mode().Perm().String())
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("secret file: %w", err)
	}
	return bytes.TrimRight(data, "\r\n"), nil
}
