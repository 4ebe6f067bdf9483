"""Connection URIs of every dialect the service supports, with the secrets each one holds.

Each form is (dialect, uri, masked, secrets): ``masked`` is all the service may show of
it, and no string of ``secrets`` may appear in any response, page, log or error message.
"""

VALID_URI_FORMS = [
    (
        "postgresql",
        "postgresql://reader:Pg-Secret-1@db.internal:5432/shop",
        "postgresql://***@db.internal:5432/shop",
        ["reader", "Pg-Secret-1"],
    ),
    (
        "postgresql",
        "postgresql://TokenAsUser-9f8e7d@db.internal/shop",
        "postgresql://***@db.internal/shop",
        ["TokenAsUser-9f8e7d"],
    ),
    (
        "postgresql",
        "postgresql://app:Multi-Secret-2@h1.internal:5432,h2.internal:5433/shop"
        "?sslmode=verify-full&sslpassword=KeyPass-3&target_session_attrs=read-write",
        "postgresql://***@h1.internal:5432,h2.internal:5433/shop"
        "?sslmode=***&sslpassword=***&target_session_attrs=***",
        ["Multi-Secret-2", "KeyPass-3"],
    ),
    (
        "postgresql",
        "postgresql+psycopg://app:Ipv6-Secret-4@[2001:db8::1]:5432/shop",
        "postgresql+psycopg://***@[2001:db8::1]:5432/shop",
        ["Ipv6-Secret-4"],
    ),
    (
        "postgresql",
        "postgresql:///shop?host=%2Fvar%2Frun%2Fpostgresql&user=SockUser-5&password=Sock-Secret-5",
        "postgresql:///shop?host=***&user=***&password=***",
        ["SockUser-5", "Sock-Secret-5"],
    ),
    (
        "postgresql",
        "postgres://app:x@db.internal/shop?sig=SigSecret-15&sv=2024-01-01",
        "postgres://***@db.internal/shop?sig=***&sv=***",
        ["SigSecret-15"],
    ),
    (
        "mysql",
        "mysql://root:My-Secret-6@mysql.internal:3306/crm?charset=utf8mb4",
        "mysql://***@mysql.internal:3306/crm?charset=***",
        ["My-Secret-6"],
    ),
    (
        "mysql",
        "mysql+pymysql://crm-user:My%40Secret%2F7@mysql.internal/crm",
        "mysql+pymysql://***@mysql.internal/crm",
        ["crm-user", "My%40Secret", "My@Secret"],
    ),
    (
        "mssql",
        "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC+Driver+18+for+SQL+Server%7D%3B"
        "SERVER%3Dsql.internal%3BDATABASE%3Dsales%3BUID%3DOdbcUser-8%3BPWD%3DOdbcSecretPw-42",
        "mssql+pyodbc:///?odbc_connect=***",
        ["OdbcUser-8", "OdbcSecretPw-42"],
    ),
    (
        "mssql",
        "mssql+pyodbc://sa:Mssql-Secret-9@sql.internal:1433/sales"
        "?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes",
        "mssql+pyodbc://***@sql.internal:1433/sales?driver=***&TrustServerCertificate=***",
        ["Mssql-Secret-9"],
    ),
    (
        "mssql",
        "mssql+pymssql://reporting:Pymssql-Secret-10@sql.internal/sales",
        "mssql+pymssql://***@sql.internal/sales",
        ["reporting", "Pymssql-Secret-10"],
    ),
    (
        "oracle",
        "oracle://scott:TigerSecret-7@ora.internal:1521/ORCL",
        "oracle://***@ora.internal:1521/ORCL",
        ["scott", "TigerSecret-7"],
    ),
    (
        "oracle",
        "oracle+oracledb://scott:TigerSecret-8@ora.internal:1521/?service_name=ORCLPDB1",
        "oracle+oracledb://***@ora.internal:1521/?service_name=***",
        ["scott", "TigerSecret-8"],
    ),
    ("sqlite", "sqlite:///relative/shop.db", "sqlite:///relative/shop.db", []),
    ("sqlite", "sqlite:////var/lib/shop.db", "sqlite:////var/lib/shop.db", []),
    ("duckdb", "duckdb:///:memory:", "duckdb:///:memory:", []),
    (
        "snowflake",
        "snowflake://analyst:Snow-Secret-11@xy12345.eu-west-1/SALES/PUBLIC?warehouse=WH&role=R",
        "snowflake://***@xy12345.eu-west-1/SALES/PUBLIC?warehouse=***&role=***",
        ["analyst", "Snow-Secret-11"],
    ),
    (
        "bigquery",
        "bigquery://my-project/dataset?credentials_base64=Q3JlZC1TZWNyZXQtMTI",
        "bigquery://my-project/dataset?credentials_base64=***",
        ["Q3JlZC1TZWNyZXQtMTI"],
    ),
    (
        "redshift",
        "redshift+redshift_connector://awsuser:Rs-Secret-13@cluster.abc.eu-west-1."
        "redshift.amazonaws.com:5439/dev",
        "redshift+redshift_connector://***@cluster.abc.eu-west-1.redshift.amazonaws.com:5439/dev",
        ["awsuser", "Rs-Secret-13"],
    ),
    (
        "databricks",
        "databricks://token:dapiDbxSecret14@adb-123.azuredatabricks.net"
        "?http_path=/sql/1.0/warehouses/abc&catalog=main&schema=default",
        "databricks://***@adb-123.azuredatabricks.net?http_path=***&catalog=***&schema=***",
        ["dapiDbxSecret14"],
    ),
    (
        "clickhouse",
        "clickhouse+native://default:Ch-Secret-15@ch.internal:9000/default?secure=true",
        "clickhouse+native://***@ch.internal:9000/default?secure=***",
        ["Ch-Secret-15"],
    ),
]

# URIs the service refuses, with the secrets their 400 must not quote. Rows stored before
# the service refused them can still exist: masking them shows at most their scheme.
INVALID_URI_FORMS = [
    ("oracle", "oracle://scott/TigerSecret-7@db:1521/ORCL", "oracle://***", ["TigerSecret-7"]),
    (
        "postgresql",
        "postgresql://reader:n3w#HashSecret-16@db.internal/shop",
        "postgresql://***",
        ["HashSecret-16", "n3w"],
    ),
    (
        "postgresql",
        "postgresql://reader:Space-Secret-17@db internal/shop",
        "postgresql://***",
        ["Space-Secret-17"],
    ),
    (
        "postgresql",
        "postgresql://reader:Port-Secret-18@db.internal:54x32/shop",
        "postgresql://***",
        ["Port-Secret-18"],
    ),
    (
        "postgresql",
        "postgresql://reader:Bracket-Secret-19@[db/shop",
        "postgresql://***",
        ["Bracket-Secret-19"],
    ),
    ("postgresql", "Plain-Secret-20 is not a URI", "***", ["Plain-Secret-20"]),
]
