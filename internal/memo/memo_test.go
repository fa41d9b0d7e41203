package memo

import (
	"strconv"
	"testing"
)

func TestMemo(t *testing.T) {
	var m Memo[int]
	if _, ok := m.Get("a"); ok || m.Len() != 0 {
		t.Fatal("the zero Memo has an entry")
	}
	m.Put("a", 1, 3)
	m.Put("a", 2, 3) // the first answer stays
	if n := m.Len(); n != 1 {
		t.Fatalf("Len = %d after one key, want 1", n)
	}
	if v, ok := m.Get("a"); !ok || v != 1 {
		t.Fatalf("Get(a) = %v, %v; want 1, true", v, ok)
	}
	m.Put("b", 2, 3)
	m.Put("c", 3, 3)
	if v, ok := m.Get("c"); !ok || v != 3 {
		t.Fatalf("Get(c) = %v, %v; want 3, true", v, ok)
	}
	// Full: the next Put starts afresh, so the memo never holds more than the limit.
	m.Put("d", 4, 3)
	if _, ok := m.Get("a"); ok {
		t.Error("a survived a full memo")
	}
	if v, ok := m.Get("d"); !ok || v != 4 || m.Len() != 1 {
		t.Fatalf("Get(d) = %v, %v, Len %d; want 4, true, 1", v, ok, m.Len())
	}
	for i := range 100 {
		m.Put(strconv.Itoa(i), i, 3)
		if n := m.Len(); n > 3 {
			t.Fatalf("size %d over the limit 3", n)
		}
	}
}
