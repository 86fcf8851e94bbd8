// util.list programs for the older-release corpus (vm.list.* ops in the host module).
func.func @squares(%n: i32) -> !util.list<i32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %count = arith.index_cast %n : i32 to index
  %list = util.list.create %count : !util.list<i32>
  util.list.resize %list, %count : !util.list<i32>
  scf.for %i = %c0 to %count step %c1 {
    %v = arith.index_cast %i : index to i32
    %sq = arith.muli %v, %v : i32
    util.list.set %list[%i], %sq : !util.list<i32>
  }
  return %list : !util.list<i32>
}

func.func @sum_squares(%n: i32) -> i32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0 : i32
  %list = call @squares(%n) : (i32) -> !util.list<i32>
  %count = util.list.size %list : !util.list<i32>
  %sum = scf.for %i = %c0 to %count step %c1 iter_args(%acc = %zero) -> (i32) {
    %v = util.list.get %list[%i] : !util.list<i32>
    %a = arith.addi %acc, %v : i32
    scf.yield %a : i32
  }
  return %sum : i32
}
