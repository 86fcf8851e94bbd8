// Host-visible fences: hal.fence.await as a yieldable import (suspends the fiber).
func.func @wait(%f: !hal.fence) -> i32 {
  %t = arith.constant -1 : i32
  %s = hal.fence.await until([%f]) timeout_millis(%t) flags("None") : i32
  return %s : i32
}
func.func @wait_timeout(%f: !hal.fence, %t: i32) -> i32 {
  %s = hal.fence.await until([%f]) timeout_millis(%t) flags("None") : i32
  return %s : i32
}
