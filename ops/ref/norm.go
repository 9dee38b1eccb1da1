package ref

import (
	"fmt"
	"math"

	"github.com/webfuser/webfuser/internal/dtype"
)

func isHalf(dt dtype.DType) bool { return dt == dtype.F16 || dt == dtype.BF16 }

func checkVec(op, name string, v *Tensor, d int) error {
	if v != nil && (len(v.Shape) != 1 || v.Shape[0] != d) {
		return fmt.Errorf("ref.%s: %s has shape %v, want [%d]", op, name, v.Shape, d)
	}
	return nil
}

// rmsInv returns 1/sqrt(mean(row²) + eps).
func rmsInv(row []float64, eps float64) float64 {
	var ss float64
	for _, v := range row {
		ss += v * v
	}
	return 1 / math.Sqrt(ss/float64(len(row))+eps)
}

// RMSNorm computes y = x * rsqrt(mean(x²) + eps) per row of the last
// dimension. With a weight, the normalised value is rounded to the
// weight's dtype when that is f16 or bf16, multiplied by the weight (and
// the bias added, each step rounded as PyTorch rounds it), and the output
// has the weight's dtype; without one it is cast back to x's dtype.
func RMSNorm(x, weight, bias *Tensor, eps float64) (*Tensor, error) {
	rows, d := lastDim(x)
	if err := checkVec("RMSNorm", "weight", weight, d); err != nil {
		return nil, err
	}
	if err := checkVec("RMSNorm", "bias", bias, d); err != nil {
		return nil, err
	}
	if bias != nil && weight == nil {
		return nil, fmt.Errorf("ref.RMSNorm: bias without weight")
	}
	out := x.DType
	if weight != nil {
		out = weight.DType
	}
	y := New(out, x.Shape...)
	for r := 0; r < rows; r++ {
		row := x.Data[r*d : (r+1)*d]
		inv := rmsInv(row, eps)
		for c, v := range row {
			n := v * inv
			if weight != nil {
				if isHalf(weight.DType) {
					n = dtype.Round(weight.DType, n)
				}
				n *= weight.Data[c]
				if bias != nil {
					n = dtype.Round(out, n) + bias.Data[c]
				}
			}
			y.Data[r*d+c] = dtype.Round(out, n)
		}
	}
	return y, nil
}

// NormInfer computes TeleFuser's norm_infer kernel (and its test's
// reference function): RMSNorm (rms) or LayerNorm over the last
// dimension, times weight and plus bias when given, with one rounding to
// x's dtype at the end. weight and bias may each be nil.
func NormInfer(x, weight, bias *Tensor, eps float64, rms bool) (*Tensor, error) {
	if !rms {
		return LayerNorm(x, weight, bias, eps)
	}
	rows, d := lastDim(x)
	if err := checkVec("NormInfer", "weight", weight, d); err != nil {
		return nil, err
	}
	if err := checkVec("NormInfer", "bias", bias, d); err != nil {
		return nil, err
	}
	y := New(x.DType, x.Shape...)
	for r := 0; r < rows; r++ {
		row := x.Data[r*d : (r+1)*d]
		inv := rmsInv(row, eps)
		for c, v := range row {
			n := v * inv
			if weight != nil {
				n *= weight.Data[c]
			}
			if bias != nil {
				n += bias.Data[c]
			}
			y.Data[r*d+c] = dtype.Round(x.DType, n)
		}
	}
	return y, nil
}

// LayerNorm computes torch.nn.functional.layer_norm over the last
// dimension (biased variance) with optional weight and bias; the output
// has x's dtype.
func LayerNorm(x, weight, bias *Tensor, eps float64) (*Tensor, error) {
	rows, d := lastDim(x)
	if err := checkVec("LayerNorm", "weight", weight, d); err != nil {
		return nil, err
	}
	if err := checkVec("LayerNorm", "bias", bias, d); err != nil {
		return nil, err
	}
	y := New(x.DType, x.Shape...)
	for r := 0; r < rows; r++ {
		row := x.Data[r*d : (r+1)*d]
		var mean, ss float64
		for _, v := range row {
			mean += v
		}
		mean /= float64(d)
		for _, v := range row {
			ss += (v - mean) * (v - mean)
		}
		inv := 1 / math.Sqrt(ss/float64(d)+eps)
		for c, v := range row {
			n := (v - mean) * inv
			if weight != nil {
				n *= weight.Data[c]
			}
			if bias != nil {
				n += bias.Data[c]
			}
			y.Data[r*d+c] = dtype.Round(x.DType, n)
		}
	}
	return y, nil
}
