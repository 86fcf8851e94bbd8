// VM dialect input (iree-compile --compile-from=vm) covering metadata that the
// other programs lack: module reflection attributes, an optional import and
// hence an optional dependency, a minimum dependency version, an export alias,
// f64 (EXT_F64 requirement), embedded rodata longer than the 32-character
// preview and rodata that is not text, and globals of both kinds.
vm.module public @meta attributes {iree.reflection = {author = "iree_lab", purpose = "metadata coverage"}} {
  vm.import private optional @custom.maybe(%x : i32) -> i32 attributes {minimum_version = 2 : i32}
  vm.import private @other.needed(%x : i64, %y : !vm.buffer) -> (i32, f32) attributes {minimum_version = 3 : i32}
  vm.rodata private @text dense<[72, 101, 108, 108, 111, 44, 32, 116, 104, 105, 115, 32, 105, 115, 32, 97, 32, 108, 111, 110, 103, 101, 114, 32, 114, 111, 100, 97, 116, 97, 32, 115, 116, 114, 105, 110, 103]> : tensor<37xi8>
  vm.rodata private @bin dense<[1, 2, 3, 255]> : tensor<4xi8>
  vm.global.i32 private mutable @counter : i32
  vm.global.ref private mutable @last : !vm.buffer
  vm.func @run(%a : i32) -> i32 attributes {iree.reflection = {iree.abi.declaration = "custom"}} {
    %t = vm.const.ref.rodata @text : !vm.buffer
    %b = vm.const.ref.rodata @bin : !vm.buffer
    vm.global.store.ref %t, @last : !vm.buffer
    %r = vm.call @custom.maybe(%a) : (i32) -> i32
    %c = vm.const.i64 7
    %q:2 = vm.call @other.needed(%c, %b) : (i64, !vm.buffer) -> (i32, f32)
    vm.global.store.i32 %r, @counter : i32
    vm.return %q#0 : i32
  }
  vm.export @run
  vm.export @run as("run_alias")
  vm.func @scale(%x : f64) -> f64 {
    %k = vm.const.f64 2.5
    %y = vm.mul.f64 %x, %k : f64
    vm.return %y : f64
  }
  vm.export @scale
}
