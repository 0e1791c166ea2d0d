package fsys

import (
	"strings"
	"testing"
)

func TestManualHasEveryFile(t *testing.T) {
	manual := Manual()
	for _, specs := range [][]fileSpec{rootFiles, containerFiles} {
		for _, spec := range specs {
			if !strings.Contains(manual, "\n\t"+spec.name+" ") {
				t.Errorf("manual does not list the file %s", spec.name)
			}
		}
	}
	for _, heading := range []string{"# Synopsis", "# Control commands", "# Metrics"} {
		if !strings.Contains(manual, heading+"\n") {
			t.Errorf("manual lacks the section %q", heading)
		}
	}
	if strings.Contains(manual, "//") && !strings.Contains(manual, "://") {
		t.Errorf("manual has comment markers left:\n%s", manual)
	}
}
