n = 1100
total = 0
for i in range(n):
    for j in range(n):
        total = (total + i * j) % 1000003
k = 0
while k < 1000000:
    total += k % 7
    k += 1
print(total)
