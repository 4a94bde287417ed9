class Vec:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = float(x)
        self.y = float(y)

    def add(self, o):
        return Vec(self.x + o.x, self.y + o.y)

    def scale(self, k):
        return Vec(self.x * k, self.y * k)

    def dot(self, o):
        return self.x * o.x + self.y * o.y


acc = Vec(0, 0)
d = Vec(1.5, -0.5)
for i in range(380000):
    acc = acc.add(d.scale(i % 7))
print(f"{acc.x}", f"{acc.y}", acc.dot(d))
