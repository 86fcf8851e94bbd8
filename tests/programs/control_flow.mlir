// Host-side control flow: branches, a switch (vm.br_table), loops and failures.
func.func @classify(%x: i32) -> i32 {
  %xi = arith.index_cast %x : i32 to index
  %r = scf.index_switch %xi -> i32
  case 0 { %a = arith.constant 100 : i32
           scf.yield %a : i32 }
  case 1 { %b = arith.constant 200 : i32
           scf.yield %b : i32 }
  case 5 { %c = arith.constant 500 : i32
           scf.yield %c : i32 }
  default { %d = arith.constant -1 : i32
            scf.yield %d : i32 }
  return %r : i32
}

func.func @collatz_steps(%n: i64) -> i32 {
  %zero = arith.constant 0 : i32
  %one = arith.constant 1 : i64
  %two = arith.constant 2 : i64
  %three = arith.constant 3 : i64
  %r:2 = scf.while (%v = %n, %steps = %zero) : (i64, i32) -> (i64, i32) {
    %c = arith.cmpi ugt, %v, %one : i64
    scf.condition(%c) %v, %steps : i64, i32
  } do {
  ^bb0(%v: i64, %steps: i32):
    %rem = arith.remui %v, %two : i64
    %even = arith.cmpi eq, %rem, %one : i64
    %half = arith.divui %v, %two : i64
    %t = arith.muli %v, %three : i64
    %t1 = arith.addi %t, %one : i64
    %next = arith.select %even, %t1, %half : i64
    %s1 = arith.constant 1 : i32
    %steps1 = arith.addi %steps, %s1 : i32
    scf.yield %next, %steps1 : i64, i32
  }
  return %r#1 : i32
}

func.func @checked_div(%a: i32, %b: i32) -> i32 {
  %zero = arith.constant 0 : i32
  %ok = arith.cmpi ne, %b, %zero : i32
  cf.assert %ok, "division by zero"
  %0 = arith.divsi %a, %b : i32
  return %0 : i32
}
