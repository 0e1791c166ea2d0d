package experiment

import (
	"math"
	"testing"
)

func TestWeight(t *testing.T) {
	tests := []struct {
		name    string
		nice    int
		want    int
		wantErr bool
	}{
		{name: "lowest nice", nice: -20, want: 88761},
		{name: "favoured", nice: -5, want: 3121},
		{name: "default", nice: 0, want: 1024},
		{name: "penalised", nice: 5, want: 335},
		{name: "highest nice", nice: 19, want: 15},
		{name: "below range", nice: -21, wantErr: true},
		{name: "above range", nice: 20, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Weight(tt.nice)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Weight(%d) error = %v, want error %v", tt.nice, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Weight(%d) = %d, want %d", tt.nice, got, tt.want)
			}
		})
	}
}

// TestWeightTableRatio checks the table's design: each nice level changes
// the weight by a factor of about 1.25.
func TestWeightTableRatio(t *testing.T) {
	for nice := MinNice; nice < MaxNice; nice++ {
		w, _ := Weight(nice)
		next, _ := Weight(nice + 1)
		ratio := float64(w) / float64(next)
		if ratio < 1.2 || ratio > 1.3 {
			t.Errorf("weight(%d)/weight(%d) = %.3f, want about 1.25", nice, nice+1, ratio)
		}
	}
}

func TestPredictShares(t *testing.T) {
	tests := []struct {
		name         string
		niceA, niceB int
		wantA        float64
		wantErr      bool
	}{
		{name: "minus five against five", niceA: -5, niceB: 5, wantA: 3121.0 / 3456},
		{name: "five against minus five", niceA: 5, niceB: -5, wantA: 335.0 / 3456},
		{name: "equal", niceA: 0, niceB: 0, wantA: 0.5},
		{name: "one level apart", niceA: 0, niceB: 1, wantA: 1024.0 / 1844},
		{name: "extremes", niceA: -20, niceB: 19, wantA: 88761.0 / 88776},
		{name: "invalid first", niceA: -30, niceB: 0, wantErr: true},
		{name: "invalid second", niceA: 0, niceB: 30, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, err := PredictShares(tt.niceA, tt.niceB)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if math.Abs(a-tt.wantA) > 1e-12 {
				t.Errorf("share A = %.6f, want %.6f", a, tt.wantA)
			}
			if math.Abs(a+b-1) > 1e-12 {
				t.Errorf("shares %.6f + %.6f do not sum to 1", a, b)
			}
		})
	}
}

// TestPredictSharesRounded checks the figures quoted in the documentation.
func TestPredictSharesRounded(t *testing.T) {
	a, b, _ := PredictShares(-5, 5)
	if got := math.Round(1000*a) / 10; got != 90.3 {
		t.Errorf("share of nice -5 = %.1f%%, want 90.3%%", got)
	}
	if got := math.Round(1000*b) / 10; got != 9.7 {
		t.Errorf("share of nice 5 = %.1f%%, want 9.7%%", got)
	}
}

func TestPredictFinish(t *testing.T) {
	tests := []struct {
		name           string
		seconds        float64
		shareA, shareB float64
		wantA, wantB   float64
	}{
		{name: "favoured first", seconds: 10, shareA: 0.9, shareB: 0.1, wantA: 10 / 0.9, wantB: 20},
		{name: "favoured second", seconds: 10, shareA: 0.25, shareB: 0.75, wantA: 20, wantB: 10 / 0.75},
		{name: "equal", seconds: 5, shareA: 0.5, shareB: 0.5, wantA: 10, wantB: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := PredictFinish(tt.seconds, tt.shareA, tt.shareB)
			if math.Abs(a-tt.wantA) > 1e-9 {
				t.Errorf("finish A = %.4f, want %.4f", a, tt.wantA)
			}
			if math.Abs(b-tt.wantB) > 1e-9 {
				t.Errorf("finish B = %.4f, want %.4f", b, tt.wantB)
			}
		})
	}
}
