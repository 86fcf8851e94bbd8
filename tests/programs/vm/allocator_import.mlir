// hal.allocator.import probes: each function returns 1 when the import yields a
// buffer and 0 when a try import yields null (compiled with --compile-from=vm).
vm.module @allocator_import {
  vm.import private @hal.devices.get(%index : i32) -> !vm.ref<!hal.device>
  vm.import private @hal.device.allocator(%device : !vm.ref<!hal.device>) -> !vm.ref<!hal.allocator>
  vm.import private @hal.allocator.import(%allocator : !vm.ref<!hal.allocator>, %try : i32, %queue_affinity : i64, %memory_types : i32, %buffer_usage : i32, %source : !vm.buffer, %offset : i64, %length : i64) -> !vm.ref<!hal.buffer>
  vm.rodata private @data <{alignment = 64 : i64}> dense<7> : tensor<256xi8>

  // Imports 16 bytes of the 64-byte aligned rodata at byte offset %off.
  vm.func @rodata(%off : i32, %memory_types : i32, %usage : i32, %try : i32) -> i32 {
    %c0 = vm.const.i32 0
    %device = vm.call @hal.devices.get(%c0) : (i32) -> !vm.ref<!hal.device>
    %allocator = vm.call @hal.device.allocator(%device) : (!vm.ref<!hal.device>) -> !vm.ref<!hal.allocator>
    %source = vm.const.ref.rodata @data : !vm.buffer
    %affinity = vm.const.i64 -1
    %offset = vm.ext.i32.i64.s %off : i32 -> i64
    %length = vm.const.i64 16
    %buffer = vm.call @hal.allocator.import(%allocator, %try, %affinity, %memory_types, %usage, %source, %offset, %length) : (!vm.ref<!hal.allocator>, i32, i64, i32, i32, !vm.buffer, i64, i64) -> !vm.ref<!hal.buffer>
    %nz = vm.cmp.nz.ref %buffer : !vm.ref<!hal.buffer>
    vm.return %nz : i32
  }
  vm.export @rodata

  // Imports 16 bytes at byte offset %off of a 256-byte vm.buffer.alloc with 64-byte alignment.
  vm.func @guest(%off : i32, %usage : i32, %try : i32) -> i32 {
    %c0 = vm.const.i32 0
    %device = vm.call @hal.devices.get(%c0) : (i32) -> !vm.ref<!hal.device>
    %allocator = vm.call @hal.device.allocator(%device) : (!vm.ref<!hal.device>) -> !vm.ref<!hal.allocator>
    %size = vm.const.i64 256
    %alignment = vm.const.i32 64
    %source = vm.buffer.alloc %size, %alignment : !vm.buffer
    %affinity = vm.const.i64 -1
    %offset = vm.ext.i32.i64.s %off : i32 -> i64
    %length = vm.const.i64 16
    %memory_types = vm.const.i32 48
    %buffer = vm.call @hal.allocator.import(%allocator, %try, %affinity, %memory_types, %usage, %source, %offset, %length) : (!vm.ref<!hal.allocator>, i32, i64, i32, i32, !vm.buffer, i64, i64) -> !vm.ref<!hal.buffer>
    %nz = vm.cmp.nz.ref %buffer : !vm.ref<!hal.buffer>
    vm.return %nz : i32
  }
  vm.export @guest
}
