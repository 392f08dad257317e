param mu : real
mu ~ nromal(0, 1)
