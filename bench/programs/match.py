class Op:
    __slots__ = ("variant", "payload")

    def __init__(self, variant, payload=None):
        self.variant = variant
        self.payload = payload


prog = []
for i in range(250000):
    k = i % 6
    if k == 0:
        prog.append(Op("Push", (i % 10,)))
    elif k == 1:
        prog.append(Op("Dup"))
    elif k == 2:
        prog.append(Op("Add"))
    elif k == 3:
        prog.append(Op("Mul"))
    elif k == 4:
        prog.append(Op("Neg"))
    else:
        prog.append(Op("Drop"))
acc = 0
for op in prog:
    match op.variant:
        case "Push" if op.payload[0] > 5:
            acc = acc + op.payload[0]
        case "Push":
            acc = acc - op.payload[0]
        case "Add":
            acc = acc + 1
        case "Mul":
            acc = (acc * 3) % 10007
        case "Neg":
            acc = -acc
        case "Dup":
            acc = acc + 2
        case "Drop":
            pass
pairs = [[1, "a"], [2, "b"], [3, "c"]]
names = ""
for i in range(75000):
    match pairs[i % 3]:
        case [1, s]:
            names = s
        case [n, s] if n > 2:
            names = s if len(names) > 10 else names + s
        case [_, s]:
            names = s + s
print(acc, names)
