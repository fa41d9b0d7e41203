package registryauth

import "github.com/pullguard/pullguard/internal/memo"

// imageMemoSize bounds the parsed-reference memo.
const imageMemoSize = 16384

// images memoizes ParseImage by reference.
var images memo.Memo[Image]
