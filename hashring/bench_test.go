package hashring

import (
	"fmt"
	"testing"
)

var benchKey = []byte("{user:1000}.profile:settings")

func BenchmarkHash(b *testing.B) {
	for _, name := range HashNames() {
		f, err := HashFunc(name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(benchKey)))
			for b.Loop() {
				f(benchKey)
			}
		})
	}
}

func BenchmarkPick(b *testing.B) {
	for _, dist := range distributions {
		for _, n := range []int{5, 50} {
			hash := "fnv1a_64"
			if dist == Consistent {
				hash = ""
			}
			r := mustNew(b, dist, hash, "{}", equalNodes(n))
			b.Run(fmt.Sprintf("%s/nodes=%d", dist, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r.Pick(benchKey)
				}
			})
			b.Run(fmt.Sprintf("%s/nodes=%d/parallel", dist, n), func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						r.Pick(benchKey)
					}
				})
			})
		}
	}
}

func BenchmarkSlot(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Slot(benchKey)
	}
}

func BenchmarkHashTag(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		HashTag(benchKey, "{}")
	}
}

func BenchmarkNew(b *testing.B) {
	for _, dist := range distributions {
		b.Run(dist+"/nodes=10", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(dist, "", "{}", equalNodes(10)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
