package ops

// Temps collects the intermediate tensors of a forward pass so that one
// deferred Release frees them all, whichever step fails.
type Temps struct{ ts []*Tensor }

// Keep records t when err is nil and returns t and err unchanged.
func (s *Temps) Keep(t *Tensor, err error) (*Tensor, error) {
	if err == nil {
		s.ts = append(s.ts, t)
	}
	return t, err
}

// Release releases every tensor Keep recorded.
func (s *Temps) Release() {
	for _, t := range s.ts {
		t.Release()
	}
	s.ts = nil
}
