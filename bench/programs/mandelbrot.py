w = 200
h = 140
max_iter = 60
inside = 0
y = 0
while y < h:
    ci = y * 2.0 / h - 1.0
    x = 0
    while x < w:
        cr = x * 3.0 / w - 2.0
        zr = 0.0
        zi = 0.0
        it = 0
        while it < max_iter and zr * zr + zi * zi <= 4.0:
            t = zr * zr - zi * zi + cr
            zi = 2.0 * zr * zi + ci
            zr = t
            it += 1
        if it == max_iter:
            inside += 1
        x += 1
    y += 1
print(inside)
