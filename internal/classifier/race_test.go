//go:build race

package classifier_test

// raceEnabled: the race detector changes what allocates.
const raceEnabled = true
