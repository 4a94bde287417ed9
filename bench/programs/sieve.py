n = 500000
flags = []
i = 0
while i <= n:
    flags.append(True)
    i += 1
flags[0] = False
flags[1] = False
p = 2
while p * p <= n:
    if flags[p]:
        m = p * p
        while m <= n:
            flags[m] = False
            m += p
    p += 1
count = 0
for f in flags:
    if f:
        count += 1
print(count)
