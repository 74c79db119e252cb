module taskbus/ferretdb-probe

go 1.21
