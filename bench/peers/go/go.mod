module tether.bench/peer-go

go 1.19
