package strict

import (
	"sort"
	"strings"
)

// Suggest returns the key of known that key most likely misspells, or ""
// when none is close: the same letters in another case, or a few typing
// mistakes (letters missing, extra, wrong or swapped) for the key's length.
func Suggest(key string, known []string) string {
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	limit := min(1+len(key)/5, 3)
	best, bestDist := "", limit+1
	for _, k := range sorted {
		if strings.EqualFold(k, key) {
			return k
		}
		if d := distance(strings.ToLower(key), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// distance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours, one each.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

func list(keys []string) string {
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	return strings.Join(sorted, ", ")
}
