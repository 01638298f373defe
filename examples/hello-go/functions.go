package functions

import (
	"fmt"
	"net/http"
	"os"
)

// API answers HTTP requests at /fn/<owner>/<repo>/API.
func API(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s: you asked for %s\n", os.Getenv("ESERVELESS_GREETING"), r.URL.RequestURI())
}

// Cleanup runs on its schedule with the ESERVELESS_* variables of its meta.
func Cleanup(envs interface{}) {
	vars := envs.(map[string]string)
	fmt.Printf("cleaning %s\n", vars["ESERVELESS_TARGET"])
}
