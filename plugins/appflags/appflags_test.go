package appflags

import "testing"

func TestAppName(t *testing.T) {
	for path, want := range map[string]string{
		"apps/order-service/overlays/production": "order-service-production",
		"apps/web":                               "web",
		"clusters/prod/apps/Billing_API":         "prod-billing-api",
		".":                                      "config",
		"":                                       "config",
		"overlays/":                              "config",
	} {
		if got := AppName(path, "https://git.example/team/config.git"); got != want {
			t.Errorf("AppName(%q) = %q, want %q", path, got, want)
		}
	}
}

