package configfile

import "testing"

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{"512MiB": 512 << 20, "2GiB": 2 << 30, "100MB": 100e6, "64 KiB": 64 << 10, "1024": 1024, "1.5GiB": 3 << 29} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1MiB", "12 parsecs", "1e30GiB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
	if s := Size(512 << 20).String(); s != "512MiB" {
		t.Error(s)
	}
	var v struct {
		Max Size `yaml:"max"`
	}
	if err := Decode("x.yaml", []byte("max: 2GiB\n"), &v); err != nil || v.Max != 2<<30 {
		t.Fatal(v, err)
	}
	if err := Decode("x.yaml", []byte("max: lots\n"), &v); err == nil {
		t.Fatal("accepted")
	}
}
