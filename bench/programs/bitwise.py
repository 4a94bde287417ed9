def popcount(v):
    n = v
    count = 0
    while n != 0:
        n &= n - 1
        count += 1
    return count


x = 2463534242
bits = 0
h = 0
i = 0
while i < 300000:
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    bits += popcount(x & 0xFFFF)
    h = ((h << 5) ^ (h >> 27) ^ x) & 0xFFFFFFFF
    i += 1
print(x, bits, h, ~h & 0xFF, -h >> 3)
